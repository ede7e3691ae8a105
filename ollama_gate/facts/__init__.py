"""Facts ollama-gate reads from its hosts, one module per concern (pyinfra style)."""
