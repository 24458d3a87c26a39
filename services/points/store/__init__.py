"""All SQL of the points service (asyncpg), one module per table family."""
