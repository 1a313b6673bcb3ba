// SPDX-License-Identifier: MIT — finding and loading the runtime inputs of the workloads (Assets/: fonts, images).
import Foundation

/// Why the assets could not be found or loaded: one line saying what was looked for where.
package struct AssetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message, without a program-name prefix.
    package let message: String
    /// An error with this message.
    package init(_ message: String) { self.message = message }
    /// The message.
    package var description: String { message }
}

/// The loaded runtime inputs of the workloads: the console fonts (PSF) and the backdrop picture (PPM).
///
/// Loaded once, before the machine boots, and handed to every workload (it is an immutable value, so it may be
/// loaded on any thread). `Assets.load()` finds the folder like this, first match wins:
/// 1. an explicit path (a CLI flag), which must be the `Assets` folder itself;
/// 2. the environment variable `FBDEFIO_ASSETS`, likewise;
/// 3. `../share/fbdefio-emu` from the directory of the running executable (symlinks resolved), where `make install`
///    puts them beside `$PREFIX/bin/fbdefio-emu`;
/// 4. a folder named `Assets` holding `fonts/Lat15-Terminus16.psf`, in the directory of the running executable
///    or any directory above it — so `.build/debug/fbdefio-emu` and the test bundle find the package's own `Assets/`;
/// 5. the same search upward from the current directory.
package struct Assets: Sendable {
    /// The environment variable that names the assets folder.
    package static let environmentVariable = "FBDEFIO_ASSETS"
    /// The console fonts, smallest first, relative to the assets folder.
    package static let consoleFontFiles = ["fonts/Lat15-Terminus16.psf", "fonts/Lat15-Terminus32x16.psf"]
    /// The backdrop of the `cursor` workload, relative to the assets folder.
    package static let backdropFile = "images/landscape.ppm"
    /// The file whose presence marks a folder as the assets folder.
    package static var markerFile: String { consoleFontFiles[0] }
    /// Where an installed binary's assets are, relative to the directory of the executable.
    package static let installedRelativePath = "../share/fbdefio-emu"

    /// Where the assets were loaded from (nil for assets built in memory).
    package let directory: String?
    /// Console fonts, by increasing glyph size; at least one.
    package let consoleFonts: [PSFFont]
    /// The still picture the `cursor` workload moves over.
    package let backdrop: PPMImage

    /// Assets built in memory (tests, or a caller with its own files). `consoleFonts` must not be empty.
    package init(consoleFonts: [PSFFont], backdrop: PPMImage, directory: String? = nil) {
        precondition(!consoleFonts.isEmpty, "at least one console font")
        self.consoleFonts = consoleFonts.sorted { ($0.width * $0.height, $0.width) < ($1.width * $1.height, $1.width) }
        self.backdrop = backdrop
        self.directory = directory
    }

    /// The backdrop of a set of assets loaded without it: one black pixel.
    package static let noBackdrop = PPMImage(width: 1, height: 1, pixels: [0])

    /// Finds the assets folder (see the type's documentation) and loads the fonts and, when `backdrop` is true, the
    /// backdrop picture (else `noBackdrop` stands in: a run whose workload does not show it need not parse a
    /// 700 KB image).
    package static func load(from explicit: String? = nil, backdrop: Bool = true) throws(AssetError) -> Assets {
        let dir = try locate(explicit: explicit)
        var fonts: [PSFFont] = []
        for file in consoleFontFiles {
            let path = dir + "/" + file
            let bytes = try read(path)
            do throws(PSFError) {
                fonts.append(try PSFFont(parsing: bytes))
            } catch {
                throw AssetError("assets: \(path): \(error)")
            }
        }
        guard backdrop else { return Assets(consoleFonts: fonts, backdrop: noBackdrop, directory: dir) }
        let imagePath = dir + "/" + backdropFile
        let imageBytes = try read(imagePath)
        let image: PPMImage
        do throws(PPMError) {
            image = try PPMImage(parsing: imageBytes)
        } catch {
            throw AssetError("assets: \(imagePath): \(error)")
        }
        return Assets(consoleFonts: fonts, backdrop: image, directory: dir)
    }

    /// The assets folder: `explicit`, else `$FBDEFIO_ASSETS`, else the installed assets beside the executable, else
    /// the first `Assets` folder above the executable or the current directory.
    package static func locate(explicit: String? = nil) throws(AssetError) -> String {
        if let explicit {
            guard isAssetsFolder(explicit) else {
                throw AssetError("assets: '\(explicit)' is not an assets folder (no \(markerFile) in it)")
            }
            return explicit
        }
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty {
            guard isAssetsFolder(env) else {
                throw AssetError("assets: \(environmentVariable)='\(env)' is not an assets folder (no \(markerFile) in it)")
            }
            return env
        }
        var starts: [String] = []
        var installed: String?
        if let exe = executableDirectory() {
            let path = URL(fileURLWithPath: exe).appendingPathComponent(installedRelativePath).standardizedFileURL.path
            if isAssetsFolder(path) { return path }
            installed = path
            starts.append(exe)
        }
        starts.append(FileManager.default.currentDirectoryPath)
        for start in starts {
            var dir = URL(fileURLWithPath: start).standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent("Assets").path
                if isAssetsFolder(candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        let places = (installed.map { [$0] } ?? []) + ["an Assets folder above " + starts.joined(separator: " or ")]
        throw AssetError("assets: no \(markerFile) in \(places.joined(separator: " nor in ")); "
            + "set \(environmentVariable) to the path of the Assets folder")
    }

    private static func isAssetsFolder(_ path: String) -> Bool {
        FileManager.default.isReadableFile(atPath: path + "/" + markerFile)
    }

    /// The directory of the running executable, symlinks resolved.
    private static func executableDirectory() -> String? {
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: exe).deletingLastPathComponent().path
        }
        if let url = Bundle.main.executableURL {
            return url.resolvingSymlinksInPath().deletingLastPathComponent().path
        }
        return nil
    }

    private static func read(_ path: String) throws(AssetError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AssetError("assets: cannot read \(path)")
        }
        return [UInt8](data)
    }
}
