using Tether.Engine;

namespace Tether.Cni;

/// <summary>
/// Where a CNI command gets its engine, and who hears of the sandboxes it adds and removes. <see cref="Own"/> (tether-cni
/// doing the work itself) opens a new engine for each command and closes it after; tetherd lends its warm engine under
/// its engine lock and keeps its DNS sandbox list in step.
/// </summary>
public abstract class CniEngineHost
{
    /// <summary>A new engine on <c>paths</c> per use, disposed after; nobody to tell of changes.</summary>
    public static CniEngineHost Own { get; } = new OwnEngine();

    /// <summary>Runs <paramref name="fn"/> with an engine on <paramref name="paths"/> (canonical state and run dirs of the
    /// command's config) and returns its result.</summary>
    public abstract T WithEngine<T>(TetherPaths paths, Func<TetherEngine, T> fn);

    /// <summary>ADD attached <paramref name="a"/> (called inside <see cref="WithEngine"/>, with its engine).</summary>
    public virtual void Added(TetherEngine engine, CniAttachment a) { }

    /// <summary>DEL removed the attachment's sandbox <paramref name="sandboxId"/>, or nothing (null: it was not there).</summary>
    public virtual void Removed(TetherEngine engine, string? sandboxId) { }

    /// <summary>GC removed one or more attachments.</summary>
    public virtual void Collected(TetherEngine engine) { }

    sealed class OwnEngine : CniEngineHost
    {
        public override T WithEngine<T>(TetherPaths paths, Func<TetherEngine, T> fn)
        {
            using var engine = new TetherEngine(paths);
            return fn(engine);
        }
    }
}
