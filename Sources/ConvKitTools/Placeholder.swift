import ConvKit
