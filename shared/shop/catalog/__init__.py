"""The catalog: products, their variants (SKUs), categories and prices."""
