"""All of giftcard's SQL: one module per table family; rows come back as frozen dataclasses."""
