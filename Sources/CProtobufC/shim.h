// CProtobufC: shim over the system header <protobuf-c/protobuf-c.h> (Debian package in Package.swift).
#include <protobuf-c/protobuf-c.h>
