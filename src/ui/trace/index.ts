export {renderDot} from './dot.js'
export {buildGraph, type PathGraph} from './graph.js'
export {renderMermaid} from './mermaid.js'
export {renderText, type TextOptions} from './text.js'
