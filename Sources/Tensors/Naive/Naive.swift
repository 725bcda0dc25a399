// Naive: the slow, obviously-correct twin of every fast kernel. Plain loops over the math
// definition, single-threaded, no BLAS, no SIMD. Tests compare each fast kernel against its
// twin here on random shapes (odd sizes and SIMD tails included). Never used by the product.

/// Namespace for reference kernels, one extension per op family (`Naive/<Family>+Naive.swift`).
public enum Naive {}
