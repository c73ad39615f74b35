"""families/hnet"""
