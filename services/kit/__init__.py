"""Shared runtime of every service: config, logging, database, events, gRPC, ops, jobs."""
