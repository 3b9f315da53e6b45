"""Model families, one module per family, each reporting its parameter count."""
