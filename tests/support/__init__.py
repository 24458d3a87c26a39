"""Test support: real servers, an in-process service, event capture, log capture."""
