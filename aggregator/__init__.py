"""A reading room for therapy writers: a feed aggregator.

The data flows one way: config -> fetch -> parse -> clean -> tag -> store,
and from the store to the web pages and output feeds.
"""

__version__ = "0.1.0"
