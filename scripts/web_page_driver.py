#!/usr/bin/env python3
"""Drives a page in a running headless Chromium over the DevTools protocol (stdlib only: a minimal
WebSocket client): opens URL, waits until `document.body.dataset.done == "1"` or TIMEOUT seconds,
prints a JSON summary of the page (status text, result images, progress) and saves a screenshot.

    web_page_driver.py DEVTOOLS_PORT URL SCREENSHOT.png [TIMEOUT]

Used by scripts/check_web_page.sh; exits 1 when the page does not finish."""
import base64, json, os, socket, struct, sys, time, urllib.parse, urllib.request


class DevTools:
    def __init__(self, ws_url):
        host, rest = ws_url[len("ws://"):].split("/", 1)
        h, p = host.split(":")
        self.sock = socket.create_connection((h, int(p)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"DevTools refused the WebSocket: {head[:200]!r}")
        self.next_id = 0

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise SystemExit("DevTools closed the connection")
            data += chunk
        return data

    def _send(self, text):
        payload = text.encode()
        header = bytes([0x81])
        n = len(payload)
        header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _recv(self):
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            message += self._recv_exact(n)
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = self._recv()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise SystemExit(f"{method}: {reply['error']}")
                return reply.get("result", {})


def main():
    port, url, shot = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 120
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{urllib.parse.quote(url, safe='')}", method="PUT")
    target = json.load(urllib.request.urlopen(request, timeout=30))
    tools = DevTools(target["webSocketDebuggerUrl"])
    probe = """JSON.stringify({done: document.body.dataset.done === "1",
        status: (document.getElementById("status") || {}).textContent,
        images: [...document.querySelectorAll("img.result")].filter(i => i.src.startsWith("data:image/png;base64,") && i.naturalWidth > 0).length,
        progress: [document.getElementById("progress").value, document.getElementById("progress").max],
        captions: [...document.querySelectorAll("figcaption")].map(c => c.textContent)})"""
    deadline, state = time.time() + timeout, {}
    while time.time() < deadline:
        result = tools.call("Runtime.evaluate", expression=probe, returnByValue=True)
        state = json.loads(result.get("result", {}).get("value", "{}"))
        if state.get("done"):
            break
        time.sleep(0.25)
    time.sleep(0.3)  # let the last images paint
    png = tools.call("Page.captureScreenshot", format="png")["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    print(json.dumps(state))
    sys.exit(0 if state.get("done") else 1)


if __name__ == "__main__":
    main()
