"""lightning/callbacks"""
