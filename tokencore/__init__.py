"""tokencore: a pure-Python STS (IEC 62055-41) token engine and meter-side decoder."""
