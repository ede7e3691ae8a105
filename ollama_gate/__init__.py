"""ollama-gate: turn Linux hosts into authenticated Ollama endpoints with pyinfra."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"
