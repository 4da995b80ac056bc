"""What the controller and the node writer share: the annotation contract, settings, edges.

Nothing here may import pandas or the rule engine: the node writer stays small.
"""
