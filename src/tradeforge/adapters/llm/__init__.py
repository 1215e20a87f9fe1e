"""Optional language-model adapters (off unless an operator configures one)."""
