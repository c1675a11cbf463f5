"""The Arks deployer service."""
