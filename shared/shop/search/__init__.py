"""Product search: one interface, OpenSearch on AWS and an embedded Tantivy index locally."""
