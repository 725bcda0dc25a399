// FastMath against libm: fastExp within 2 ulp-ish (3e-7 relative) over its range, exact limits.

import Foundation
import Testing
@testable import Tensors

@Suite struct FastMathTests {
    @Test func fastExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87.3
        while x < 88.3 {
            let e = Foundation.exp(x)
            worst = max(worst, abs(fastExp(x) - e) / e)
            x += 0.0137
        }
        #expect(worst < 3e-7, "worst relative error \(worst)")
        #expect(fastExp(0) == 1 && fastExp(-200) == 0 && fastExp(-Float.infinity) == 0)
        #expect(fastExp(1000).isFinite && fastExp(1000) > 1e38)
        #expect(abs(fastSigmoid(0) - 0.5) < 1e-7 && fastSigmoid(-100) < 1e-37 && fastSigmoid(100) == 1)
    }
}
