"""`python -m services.identity [serve|migrate|create-client CLIENT_ID KIND SCOPE...|rotate-signing-key]` (`--help`)."""

from services.kit.service import main

from .app import IdentityApp, create_client, rotate_signing_key

if __name__ == "__main__":
    main(IdentityApp, {"create-client": create_client, "rotate-signing-key": rotate_signing_key})
