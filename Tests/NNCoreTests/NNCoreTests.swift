import XCTest
@testable import NNCore
