"""Maintainer scripts: they write generated files the project commits; never installed."""
