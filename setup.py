"""Packaging glue: the top-level resources/ folder ships as the postdesk.resources package."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "postdesk.resources"],
    package_dir={"": "src", "postdesk.resources": "resources"},
)
