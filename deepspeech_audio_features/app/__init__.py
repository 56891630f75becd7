"""The application layer: experiment configurations, the study's notebook sections, plots
and the command line. Imports from every layer below.
"""
