// QueryString: a raw query string (the bytes after '?') split into the items GET /generate
// receives. The server itself gets its items from libmicrohttpd (MHD_get_connection_values);
// this reproduces libmicrohttpd's split so raw queries can be replayed through
// `GenerateRequest(query:)` without a socket (the fuzz harness, tests): '&' ends an item, the
// first '=' separates its key from its value (no '=': no value), '+' becomes a space, then
// libmicrohttpd's own MHD_http_unescape decodes %HH. Items reach the server as C strings, so a
// decoded NUL ends a key or value here too. `QueryStringTests` checks the split against the
// running server.

import CMicroHTTPD

package enum QueryString {
    /// The `(key, value)` items of `query`, in order, as libmicrohttpd hands them to the server.
    package static func items(_ query: [UInt8]) -> [(String, String?)] {
        // libmicrohttpd sees the request target as a C string: it ends at the first NUL.
        let text = query.prefix { $0 != 0 }
        var items: [(String, String?)] = []
        var rest = text[...]
        while !rest.isEmpty {
            let item = rest.prefix { $0 != UInt8(ascii: "&") }
            rest = rest.dropFirst(item.count + 1)
            if let equals = item.firstIndex(of: UInt8(ascii: "=")) {
                items.append((unescaped(item[..<equals]), unescaped(item[(equals + 1)...])))
            } else {
                items.append((unescaped(item), nil))
            }
        }
        return items
    }

    /// `part` with '+' as a space and %HH decoded by MHD_http_unescape, read as a C string.
    private static func unescaped(_ part: ArraySlice<UInt8>) -> String {
        var bytes = part.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 } + [0]
        return bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = MHD_http_unescape(chars.baseAddress)
                return String(cString: chars.baseAddress!)
            }
        }
    }
}
