"""Chapter-specific experiments: one module per chapter with its SCALES, tables and charts."""
