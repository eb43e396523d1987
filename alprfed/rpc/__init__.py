"""gRPC plumbing shared by every service: error mapping, TLS credentials, caller identity."""
