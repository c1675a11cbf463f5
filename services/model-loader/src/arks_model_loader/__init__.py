"""The Arks model-loader service."""
