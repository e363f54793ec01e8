"""The endpoint spec (operations.json): the single source of truth for code generation."""
