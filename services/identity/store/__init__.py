"""All SQL of the identity service, by table family; rows come back as frozen dataclasses."""
