// SPDX-License-Identifier: MIT — the registry of panel drivers (PanelDrivers.all) and what each driver declares.
import Kernel
import Testing
@testable import Panels

@Suite struct DriverRegistryTests {
    /// Every registered driver has a name of its own, a callback style, the kernel function it follows (a function
    /// and a file) and a positive full-frame time on every profile that runs it, at the profile's native mode.
    @Test func everyDriverDeclaresItself() {
        let names = PanelDrivers.all.map { $0.name }
        #expect(Set(names).count == names.count, "driver names repeat: \(names)")
        for driver in PanelDrivers.all {
            #expect(!driver.name.isEmpty)
            #expect(CallbackStyle.allCases.contains(driver.style))
            #expect(driver.kernelFunction.contains("() — drivers/"), "\(driver.name): \(driver.kernelFunction)")
            let profiles = PanelProfile.all.filter { ObjectIdentifier($0.driver) == ObjectIdentifier(driver) }
            #expect(!profiles.isEmpty, "no profile runs \(driver.name)")
            for p in profiles where p.bus.kind != .none {
                let layout = FramebufferLayout(width: p.width, height: p.height,
                                               format: PixelFormat(bitsPerPixel: p.defaultFramebufferBPP)!)
                #expect(driver.fullFrameTime(p, layout) > .zero, "\(driver.name) on \(p.name)")
            }
        }
    }

    /// Every profile's driver is registered, and the driver it makes is an instance of that type.
    @Test @EmuActor func everyProfileMakesItsRegisteredDriver() {
        for p in PanelProfile.all {
            #expect(PanelDrivers.isRegistered(p.driver), "\(p.name)")
            let k = EmuKernel(policy: .roundRobin(), tickRate: TickRate(hz: 250), ramPages: 8192)
            let info = FBInfo(kernel: k, xres: p.width, yres: p.height, bitsPerPixel: p.defaultFramebufferBPP)!
            let driver = makePanelDriver(p, for: info)
            #expect(ObjectIdentifier(type(of: driver)) == ObjectIdentifier(p.driver), "\(p.name)")
        }
    }
}
