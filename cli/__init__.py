"""The `nguvu` command: the outermost edge, which may import every other package."""
