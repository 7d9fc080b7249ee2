"""Build of the optional compiled EA07 (tokencore/ciphers/_ea07c.c); everything else is in pyproject.toml.

The extension is optional: without a C compiler or the Python headers, setuptools warns, skips it, and
the install goes on; tokencore then runs its pure-Python EA07 (`nguvu --version` says which is active).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tokencore.ciphers._ea07c",
            sources=["tokencore/ciphers/_ea07c.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
