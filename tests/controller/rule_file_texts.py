"""Rule file text shared by the malformed-file test tables."""

GOOD_RULE = """\
      - name: writer
        expr: write_iops > 1000
        limit: {write_iops: 500}
"""
