"""All of subscription's SQL, by concern."""
