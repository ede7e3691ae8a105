"""Tests of the lab itself (lab/): its hosts, images and the Ollama stand-in."""
