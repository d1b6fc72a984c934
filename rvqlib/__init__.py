"""rvqlib: the library under The RVQ Book."""
