"""HTML pages: the compliance diff (`diffpage`) and the statistics report (`dashboard`).

May import: `dangan.services` (the figures they show), `dangan.store`, `dangan.model`,
`dangan.formats`, `dangan.errors`.
"""
