/** The node palette, grouped by category: drag a node onto the canvas, or press it to add it. */
import type { DragEvent } from "react";
import type { NodeTypeInfo } from "../api/queries";
import { CategoryIcon } from "./icons";

export const DRAG_TYPE = "application/x-flowvault-node";

const GROUPS: { category: string; title: string }[] = [
  { category: "trigger", title: "Triggers" },
  { category: "action", title: "Actions" },
  { category: "logic", title: "Logic" },
];

interface Props {
  nodeTypes: NodeTypeInfo[];
  hasTrigger: boolean;
  onAdd: (typeKey: string) => void;
}

export function Palette({ nodeTypes, hasTrigger, onAdd }: Props) {
  const known = new Set(GROUPS.map((g) => g.category));
  const groups = [
    ...GROUPS,
    ...[...new Set(nodeTypes.map((n) => n.category))]
      .filter((c) => !known.has(c))
      .map((c) => ({ category: c, title: c })),
  ];
  return (
    <aside className="palette" aria-label="Node palette">
      <p className="palette-help">Drag onto the canvas, or press to add it after the selected node.</p>
      {groups.map((group) => {
        const items = nodeTypes.filter((n) => n.category === group.category);
        if (items.length === 0) return null;
        return (
          <section key={group.category} className="palette-group">
            <h2>{group.title}</h2>
            <ul>
              {items.map((kind) => {
                const blocked = kind.category === "trigger" && hasTrigger;
                return (
                  <li key={kind.key}>
                    <button
                      type="button"
                      className={`palette-item cat-${kind.category}`}
                      draggable={!blocked}
                      disabled={blocked}
                      title={blocked ? "A workflow has one trigger: remove the current one first." : kind.description}
                      aria-label={`Add ${kind.name}`}
                      data-node-type={kind.key}
                      onDragStart={(event: DragEvent) => {
                        event.dataTransfer.setData(DRAG_TYPE, kind.key);
                        event.dataTransfer.effectAllowed = "move";
                      }}
                      onClick={() => onAdd(kind.key)}
                    >
                      <span className="node-icon" aria-hidden="true">
                        <CategoryIcon category={kind.category} typeKey={kind.key} />
                      </span>
                      <span className="palette-text">
                        <span className="palette-name">{kind.name}</span>
                        <span className="palette-desc">{kind.description}</span>
                      </span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
        );
      })}
    </aside>
  );
}
