"""The tree second stage: embeddings, tabular features, trees and the two-stage bundle."""
