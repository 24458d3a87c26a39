"""All of growth's SQL, one module per table group."""
