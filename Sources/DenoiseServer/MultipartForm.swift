// MultipartForm: a `multipart/form-data` body (RFC 7578), as browsers and `curl -F` send uploads —
// the parts in order, each with its field name, optional file name and bytes. Only what a form
// post needs: no nested multiparts, no transfer encodings other than the identity, headers other
// than Content-Disposition and Content-Type ignored. The body size is already bounded by
// --max-body; a malformed body is an error saying what is wrong, never a crash.

/// One part of a form: a field (`filename` nil) or an uploaded file.
struct FormPart {
    let name: String
    let filename: String?
    let value: [UInt8]
}

enum MultipartForm {
    /// The boundary of a `multipart/form-data; boundary=…` content type, or nil for another type.
    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for p in parts.dropFirst() where p.lowercased().hasPrefix("boundary=") {
            var b = String(p.dropFirst("boundary=".count))
            if b.hasPrefix("\""), b.hasSuffix("\""), b.count >= 2 { b = String(b.dropFirst().dropLast()) }
            return b.isEmpty ? nil : b
        }
        return nil
    }

    /// The parts of `body`, in order.
    static func parse(_ body: [UInt8], boundary: String) throws -> [FormPart] {
        let delimiter = Array(("--" + boundary).utf8), crlf: [UInt8] = [13, 10]
        guard boundary.utf8.count <= 70 else { throw RequestError("multipart boundary longer than 70 characters") }
        guard var at = find(delimiter, in: body, from: 0) else { throw RequestError("multipart body without its boundary '\(boundary)'") }
        var parts: [FormPart] = []
        while true {
            at += delimiter.count
            if body.count >= at + 2, body[at] == 45, body[at + 1] == 45 { return parts }  // "--": the closing delimiter
            guard body.count >= at + 2, Array(body[at..<(at + 2)]) == crlf else { throw RequestError("multipart boundary not followed by a line break") }
            at += 2
            guard let headerEnd = find([13, 10, 13, 10], in: body, from: at) else { throw RequestError("multipart part without the end of its headers") }
            let headers = String(decoding: body[at..<headerEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let contentStart = headerEnd + 4
            guard let next = find(crlf + delimiter, in: body, from: contentStart) else {
                throw RequestError("multipart part not closed by the boundary (a truncated upload?)")
            }
            var name: String?, filename: String?
            for line in headers where line.lowercased().hasPrefix("content-disposition:") {
                name = parameter("name", in: line)
                filename = parameter("filename", in: line)
            }
            guard let name, !name.isEmpty else { throw RequestError("multipart part without a field name (Content-Disposition: form-data; name=…)") }
            parts.append(FormPart(name: name, filename: filename, value: Array(body[contentStart..<next])))
            at = next + 2
        }
    }

    /// The value of `key="…"` (or unquoted) in a header line.
    private static func parameter(_ key: String, in line: String) -> String? {
        for item in line.split(separator: ";").dropFirst() {
            let pair = item.trimmingCharacters(in: .whitespaces)
            guard pair.lowercased().hasPrefix(key + "=") else { continue }
            var value = String(pair.dropFirst(key.count + 1))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    /// The first index of `needle` in `haystack` at or after `start`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
