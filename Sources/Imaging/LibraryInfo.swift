// Imaging: PNG encode/decode (libpng), grids, dataset readers. This file: the linked libpng version.

import CPNG

/// Versions of the image libraries this build links.
public enum ImagingLibrary {
    /// The libpng version string at run time, e.g. "1.6.39".
    public static var pngVersion: String { String(cString: png_get_libpng_ver(nil)) }
}
