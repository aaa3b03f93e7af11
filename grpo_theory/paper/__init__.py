"""The paper's published tables as data, and the arithmetic behind its headline numbers."""
