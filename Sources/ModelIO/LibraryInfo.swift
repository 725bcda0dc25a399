// ModelIO: ONNX import/export, native format, diffusers folders, safetensors, PyTorch checkpoints, .npy.
// This file: the linked protobuf-c version.

import CProtobufC

/// Versions of the serialization libraries this build links.
public enum ModelIOLibrary {
    /// libprotobuf-c's version string at run time, e.g. "1.4.1".
    public static var protobufCVersion: String { String(cString: protobuf_c_version()) }
}
