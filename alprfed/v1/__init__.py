"""Generated protobuf and gRPC modules for proto package alprfed.v1.

Everything else in this folder is written by `make protos` (or by building the package) from
protos/alprfed/v1/*.proto. It is not committed and never edited. Only alprfed.wire imports it.
"""
