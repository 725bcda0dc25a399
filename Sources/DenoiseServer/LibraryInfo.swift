// DenoiseServer: the HTTP front end over libmicrohttpd. This file: the linked library version.

import CMicroHTTPD

/// Versions of the HTTP library this build links.
public enum ServerLibrary {
    /// libmicrohttpd's version string at run time, e.g. "0.9.75".
    public static var microhttpdVersion: String { String(cString: MHD_get_version()) }
}
