// Scratch: per-thread, grow-only float buffers for kernels' temporary panels (im2col columns,
// Winograd tiles, attention score blocks). A kernel takes slot k of at least n floats for the
// duration of its call; the buffer stays with the thread and the next call reuses it, so once
// every thread has seen the largest request a forward allocates none of these. Slots let one
// kernel hold several buffers at once; a kernel never calls another kernel inside a borrow, so
// each use site picks fixed slots (listed below). Freed when the thread exits.
// Slot map: 0 — conv columns, Winograd V, attention scores; 1 — conv product panel, Winograd M;
// 2 — Winograd padded input plane.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread scratch buffers.
enum Scratch {
    static let slots = 3

    /// The calling thread's buffers.
    final class Buffers {
        var pointers = [UnsafeMutablePointer<Float>?](repeating: nil, count: Scratch.slots)
        var capacities = [Int](repeating: 0, count: Scratch.slots)
        deinit { for p in pointers { p?.deallocate() } }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in if let raw { Unmanaged<Buffers>.fromOpaque(raw).release() } }
        return key
    }()

    private static var buffers: Buffers {
        if let raw = pthread_getspecific(key) { return Unmanaged<Buffers>.fromOpaque(raw).takeUnretainedValue() }
        let b = Buffers()
        pthread_setspecific(key, Unmanaged.passRetained(b).toOpaque())
        return b
    }

    /// Slot `slot` of this thread's scratch: at least `count` floats, contents undefined, valid until
    /// this thread asks for the same slot again (so within one kernel call).
    @inline(__always)
    static func buffer(slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        let b = buffers
        if b.capacities[slot] < count {
            b.pointers[slot]?.deallocate()
            let capacity = max(count, 1)
            b.pointers[slot] = UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64).bindMemory(to: Float.self, capacity: capacity)
            b.capacities[slot] = capacity
        }
        return b.pointers[slot]!
    }
}
