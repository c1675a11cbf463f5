"""The Arks slo-scaler service."""
